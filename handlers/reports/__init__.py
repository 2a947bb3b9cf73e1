"""Caseload reports: the figures (`figures`), built from one read of the organisation
(`caseload_report`); the bot renders them as Markdown, CSV, HTML and charts."""
