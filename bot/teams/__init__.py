"""Microsoft Teams on the Microsoft 365 Agents SDK: activities in, Adaptive Cards out.

`translate` reads activities as the neutral commands of `handlers.chat`, `cards` renders
the neutral replies, `agent` is the SDK's wiring (CloudAdapter, AgentApplication, sending),
`route` mounts it on the product's aiohttp application and `package` writes the app package.
"""
