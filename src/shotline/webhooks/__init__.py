"""Webhooks: the URL guard (used at submit and at send) and the sender that drains the outbox."""
