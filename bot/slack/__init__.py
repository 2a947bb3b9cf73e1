"""Slack: the bolt app, its HTTP route and Socket Mode, translating to and from the neutral
chat commands and replies of `handlers.chat`."""
