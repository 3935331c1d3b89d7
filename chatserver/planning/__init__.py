"""Capacity planning: how many agents each hour needs to meet a service-level goal.

- :mod:`chatserver.planning.erlang` -- the Erlang C formulas, with chat concurrency;
- :mod:`chatserver.planning.simulate` -- a discrete-event simulation through the product's
  own routing core (:mod:`chatserver.core.routing`, :mod:`chatserver.core.queueing`);
- :mod:`chatserver.planning.inputs` -- arrival rates, handle times, patience and offer
  behaviour per topic and hour of the week, read from the interaction records;
- :mod:`chatserver.planning.plan` -- the per-hour table (both methods side by side);
- :mod:`chatserver.planning.plot` -- the service level against the number of agents.

Pure code apart from :func:`chatserver.planning.inputs.load_inputs` (reads SQL) and the
plot writer (writes a file).  See ``docs/planning.md``.
"""
