"""Chat, whatever the platform: commands in, neutral replies out. `turn` is the way in for
adapters; `replies` and `wording` are what the bot says, shared with alerts."""
