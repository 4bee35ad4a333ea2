"""The torch engine: models by name, device-resident data and the learner the loop drives."""
