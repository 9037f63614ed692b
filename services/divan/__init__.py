"""divan-api (seed 004): chat, proximity, presence, invites, rooms and leaderboards, observed through ``obs``."""
