"""``target: slurm``: a pipeline trained on a SLURM cluster instead of rented instances.

The data is validated in place (the cluster's shared filesystem holds it), the
trainer config and an sbatch script are written to the run folder, the job is
submitted with ``sbatch`` and followed with ``squeue``/``sacct`` (``scontrol``
when the cluster keeps no accounting), its output streams into the run's logs,
metrics and ledger, and its checkpoints are recorded with their sha256.

Modules: ``script`` (the sbatch script, from ``templates/sbatch.sh``),
``train_config`` (the trainer config the job trains with), ``commands`` (sbatch,
squeue, sacct, scontrol, scancel as argument lists), ``follow`` (a job followed
to its end, its output read as it grows), ``engine`` (the run: stages, ledger,
cancellation). See docs/slurm.md.
"""
