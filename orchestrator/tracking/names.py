"""Every name `mft` writes to MLflow and reads back, in one place (driver side; imports nothing).

Tags carry locations and bookkeeping, metrics the curves. A report, `mft sweep status` or a
resumed sweep finds runs by these names, so each is declared once, here.
"""

# Run tags: one trial.
TRIAL_ID_TAG = "mft.trial_id"
"""The trial's identity (configuration + storage): a rerun finds its run again by it."""
STORAGE_TAG = "mft.storage"
BEST_CHECKPOINT_TAG = "mft.best_checkpoint"
LATEST_CHECKPOINT_TAG = "mft.latest_checkpoint"
CORRUPT_BEST_TAG = "mft.best_checkpoint_corrupt"
RESUMED_TAG = "mft.resumed_from_step"
FALLBACK_TAG = "mft.checkpoint_fallback"
REPAIR_TAG = "mft.repaired"
DIVERGED_TAG = "mft.diverged"
FAILURE_TAG = "mft.failure"
"""Why the trial's last attempt failed, in one line."""
FAILURE_LOG_TAG = "mft.failure_log"
PREVIOUS_FAILURE_TAG = "mft.previous_failure"
MASK_TOKEN_TAG = "mft.mask_token"
"""The token masked and dllm trials mask with, its id, and whether `--mask-token add` added it."""
ERROR_TAG = "mft.error"
"""A sweep trial's error, as Tune reported it."""
EARLY_STOP_TAG = "mft.stopped_early"
"""Why the sweep's scheduler (ASHA) stopped the trial early; its run is KILLED, shown as STOPPED."""
STOPPED = "STOPPED"
"""The status `mft` shows for a run with EARLY_STOP_TAG (MLflow has no such status of its own)."""
BEST_STEP_TAG = "mft.best_step"
"""The best evaluation so far (highest acc/total, ties to the later step), set at each new best."""
BEST_EPOCH_TAG = "mft.best_epoch"

# Run tags MLflow's UI shows: which code and which command made a run, and its description.
SOURCE_NAME_TAG = "mlflow.source.name"
SOURCE_TYPE_TAG = "mlflow.source.type"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
GIT_DIRTY_TAG = "mft.git_dirty"
""""true" when the checkout had uncommitted changes to tracked files: the commit alone is not the code."""
VERSION_TAG = "mft.version"
NOTE_TAG = "mlflow.note.content"
"""A run's description (Markdown), shown at the top of its page."""

# Dataset inputs (the UI's Dataset column): one per data role, told apart by this input tag.
DATA_CONTEXT_TAG = "mlflow.data.context"
TRAIN_CONTEXT = "train"
EVAL_CONTEXT = "eval"

# Run tags: one sweep (on its parent run; SWEEP_TAG on the children too).
SWEEP_TAG = "mft.sweep"
SWEEP_KIND_TAG = "mft.sweep_kind"
COMMAND_TAG = "mft.command"
BEST_TRIAL_TAG = "mft.best_trial"
LAB_KEY_TAG = "mft.lab_key"
"""On a lab sweep whose trials all finished: what it ran on (`orchestrator.lab.reuse`)."""
PARENT_TAG = "mlflow.parentRunId"

# Experiment tag: MLflow 3's UI chooses its "Machine learning" or "GenAI" layout by it.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
ML_EXPERIMENT_KIND = "custom_model_development"

# The UI. MLflow 3.17 opens an experiment on its GenAI view (a global switch, whatever the kind
# tag says) unless the link names the view: every printed link does.
RUNS_VIEW = "#/experiments/{experiment_id}/runs?workflowType=machine_learning"
RUN_VIEW = "#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"
DEFAULT_UI = "http://127.0.0.1:5000"
"""Where `mlflow ui` serves a local store by default."""

# Metrics, logged with step = optimizer step.
EPOCH = "epoch"
TRAIN_LOSS = "train/loss"
TRAIN_LR = "train/lr"
TRAIN_TOKENS_PER_S = "train/tokens_per_s"
TRAIN_MASK_RATIO = "train/mask_ratio"
ACCURACY_PREFIX = "acc/"
TOTAL_ACCURACY = "acc/total"
EXACT_MATCH_PREFIX = "em/"
BEST_ACCURACY_PREFIX = "best/acc_"
"""Logged once, when the trial ends, at step 0: the runs table's sortable best columns."""
BEST_TOTAL = "best/acc_total"
TRIALS_FINISHED = "trials/finished"
TRIALS_FAILED = "trials/failed"
TRIALS_STOPPED = "trials/stopped"
STD_SUFFIX = "_std"
"""A sweep's parent run: `<group>/<metric>` is the mean over seeds, `<group>/<metric>_std` the std."""

# Artifacts.
TRIAL_FILE = "trial.yaml"
"""The trial's configuration, as `mft train --config runs:/RUN_ID/trial.yaml` reads it."""
GENERATIONS_FOLDER = "generations"
SWEEP_TRIALS_FILE = "sweep/trials.json"
