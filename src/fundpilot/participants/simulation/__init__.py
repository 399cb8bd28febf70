"""The parts of the synthetic history; the entry point is fundpilot.participants.simulate."""
