"""Read/stream API: tails ``leaderboard-updates``; serves ``GET /leaderboard``, SSE and the live page."""
