"""``tune``: measure every ExecuTorch program the toolkit can make of a model on this CPU and
keep the fastest one that stays inside the accuracy budget (see :mod:`.tuner`)."""
