"""The run engine's room: how a stage's run is started, retried, failed and recorded.

`failures` holds the rule for what a failure is: the declared family of transient
errors every stage retries, and the error row's type and message for any exception.
"""
