"""Vectors for the providers added by issue 15 (part b): signed and judged by the provider's own
SDK where one exists (razorpay, onfido, hubspot-api-client, box-sdk-gen, braintree, Adyen), else
by the documented formula (marked so in each vector's note).

Run:  python gen_provb.py     (needs requirements.txt installed)

The providers live in provb_sdk.py and provb_documented.py (provb_common.py: what they share);
this file runs them.
"""

import sys

from provb_common import MISMATCHES
from provb_documented import (bigcommerce_vectors, documented_body_macs, figma_vectors, mandrill_vectors,
                              timestamped_documented)
from provb_sdk import adyen_vectors, box_vectors, braintree_vectors, hubspot_vectors, onfido_vectors, razorpay_vectors


if __name__ == "__main__":
    only = set(sys.argv[1:])
    for name, fn in [("razorpay", razorpay_vectors), ("onfido", onfido_vectors), ("documented", documented_body_macs),
                     ("timestamped", timestamped_documented), ("hubspot", hubspot_vectors), ("box", box_vectors),
                     ("braintree", braintree_vectors), ("adyen", adyen_vectors), ("figma", figma_vectors),
                     ("mandrill", mandrill_vectors), ("bigcommerce", bigcommerce_vectors)]:
        if not only or name in only:
            fn()
    if MISMATCHES:
        print("verdicts differing from expectations:\n  " + "\n  ".join(MISMATCHES))
