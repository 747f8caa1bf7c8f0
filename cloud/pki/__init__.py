"""The cloud's PKI and the broker's identities and ACLs (``vitalgate-cloud pki | gateway | broker``)."""
