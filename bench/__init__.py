"""Onramp's benchmarks against the targets of DESIGN section 8: `python -m bench [--only NAME] [--quick]`.

Each benchmark runs in its own child process (its own Django settings and database, a clean heap for the memory
figures) and hands back its figures as JSON; `bench.__main__` collects them into `bench/results.json` and a table.
The benchmarks report; they never fail on a missed target.
"""
