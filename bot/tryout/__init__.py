"""The try-out page (`caseload-bot serve --demo`): a third thin chat adapter, in the browser."""
