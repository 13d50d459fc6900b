"""PBX simulator: an asyncio server that speaks AMI and AudioSocket the way Asterisk 22 does."""
