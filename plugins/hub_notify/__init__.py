"""Built-in outbound sinks: a signed JSON webhook and an e-mail to the lead's owner."""
