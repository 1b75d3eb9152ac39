"""Vectors for providers with an official Python SDK (signed and judged by that SDK).

Run:  python gen_sdk.py            (needs requirements.txt installed)
Every verdict (sdk_accepts) comes from calling the SDK's verifier with the clock frozen at "now".
The providers live in sdk_timestamped.py, sdk_url.py and sdk_pubkey.py (sdk_common.py: what they
share); this file runs them.
"""

import sys

from sdk_common import MISMATCHES
from sdk_timestamped import mailgun_vectors, paddle_vectors, slack_vectors, stdwh_vectors, stripe_vectors
from sdk_url import square_vectors, twilio_vectors
from sdk_pubkey import discord_vectors, sendgrid_vectors


if __name__ == "__main__":
    stripe_vectors()
    slack_vectors()
    twilio_vectors()
    stdwh_vectors()
    paddle_vectors()
    square_vectors()
    mailgun_vectors()
    sendgrid_vectors()
    discord_vectors()
    if MISMATCHES:
        print("SDK verdicts differing from my expectation (recorded as the SDK says):")
        print("\n".join("  " + m for m in MISMATCHES))
    sys.exit(0)
