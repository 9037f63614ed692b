"""divan-api: chat, proximity, presence, invites, rooms and leaderboards, observed through ``obs``."""
