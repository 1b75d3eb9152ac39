"""Vectors for twitch, dropbox, asana, okta, microsoft-graph, azure-event-grid, xero, netlify,
monday and jira. None of them publishes a verifier library (checked: twitch has no server SDK;
dropbox, asana, xero, okta, msgraph and azure-eventgrid SDKs ship no webhook check; jira.js is a
community package), so every vector is signed AND judged with the provider's documented check,
written here independently of hookgate. The JWT schemes (netlify, monday) are judged by PyJWT
(requirements.txt), the library those providers' docs point to.

Run:  python gen_provc.py        (PyJWT installed; then split_large.py from tests/vectors/)

The providers live in provc_secret.py (shared secrets), provc_jwt.py (netlify, monday) and
provc_keys.py (google-pubsub, aws-sns, paypal, plaid: keys generated on each run); this file runs them.
"""

from provc_jwt import monday_vectors, netlify_vectors
from provc_keys import paypal_vectors, plaid_vectors, pubsub_vectors, sns_vectors
from provc_secret import (asana_vectors, dropbox_vectors, event_grid_vectors, graph_vectors, jira_vectors,
                          okta_vectors, twitch_vectors, xero_vectors)


if __name__ == "__main__":
    plaid_vectors()
    paypal_vectors()
    sns_vectors()
    pubsub_vectors()
    twitch_vectors()
    dropbox_vectors()
    asana_vectors()
    okta_vectors()
    graph_vectors()
    event_grid_vectors()
    xero_vectors()
    netlify_vectors()
    monday_vectors()
    jira_vectors()
