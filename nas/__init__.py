"""How a search runs: command line, tuner, analyzer and rules, summary and predict."""
