"""Runtime Kafka helpers the services share (retrying clients, group-less assignment, topic creation), kept
apart from the contract modules of ``schemas``, which import nothing from here."""
