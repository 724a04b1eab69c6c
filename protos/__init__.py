"""The contract every hfed role shares: messages, errors, path rules, checksums."""
