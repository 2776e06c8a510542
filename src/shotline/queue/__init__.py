"""How queued tasks reach workers. The task row is the source of truth; a queue only wakes workers."""
