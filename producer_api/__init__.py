"""The write API: authenticated ``POST /scores`` to ``score-events``, answered from ``score-applied``."""
