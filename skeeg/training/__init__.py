"""What a deep classifier trains with.

- :mod:`skeeg.training.losses`: the torch losses (SaSu, focal, weighted BCE);
- :mod:`skeeg.training.strategies`: loss strategies and negative schedules,
  the parameter objects an estimator's ``loss`` takes;
- :mod:`skeeg.training.curriculum`: the iEDeaL window curriculum (IncNeg);
- :mod:`skeeg.training.recipe`: the optimizer and the callbacks;
- :mod:`skeeg.training.net`: the skorch net, its precision, accelerate, and
  the plan of one fit;
- :mod:`skeeg.training.batches`: windows into batches.
"""
