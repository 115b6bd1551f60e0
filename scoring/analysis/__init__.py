"""Item and test analysis after a session: statistics, reliability, collusion, report."""
