"""The data checks: each module finds one kind of abnormal data.

``scan`` reads every split once and feeds ``stats``, the NaN/range tests and
the digests of ``hashing``; ``labels``, ``shapes``, ``identity`` (duplicates,
leakage, conflicts), ``near_duplicates`` and ``drift`` turn what was read into
``findings``.  ``stager.data.validation`` runs them in order.
"""
