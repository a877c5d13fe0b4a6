"""The 186 rows of the QA catalogue of bad and hostile inputs and faults, as cases to rerun.

The catalogue (``shared/qa/bad-input-catalogue.md``, a pass on commit b23607f) ran each row once
by hand; this module is its table in code, so that ``make qa`` can rerun every row and judge it
against docs/reliability.md's contract. Ids and row numbers are the catalogue's. Commands use its
shorthands:

- ``$B``: ``env=inverted_pendulum data.episodes=3 trainer.max_steps=100 rollout.episodes=2
  rollout.every_n_steps=100``;
- ``$S``: ``hydra.run.dir=<a folder that already holds a finished good run>`` (row C00's);
- ``$F``: the folder of input files (SB3 models, broken zips, Minari datasets) the runner makes;
- ``$W``: the runner's work folder (where the catalogue wrote under /tmp/bcx-qa).

Each case runs in a folder of its own (relative paths such as ``outputs/qa_v1`` and the default
demo cache ``outputs/cache/demos`` are the case's), which starts with the demonstrations ``$B``
collects already cached, as the catalogue's shared cache was.

What a case must show (``expect``, any of):

- ``error``: bad input. Exit 2, one line on stderr starting ``bcx: error:`` (``bcx-report:``
  for bcx-report), no traceback, no work done (no demonstrations collected, no Trainer started),
  nothing already written changed.
- ``stop``: a fault. A non-zero exit, a line saying what happened (``says``, by default a line
  starting ``bcx:``), no traceback, nothing already written changed, no half-written file.
- ``nan``: a NaN/inf during training. Exit 2 and a ``bcx: error:`` line saying what became
  non-finite; a checkpoint the message points to exists and holds finite weights.
- ``ok``: exit 0 and, for a run, its metrics.json (controls, and faults bcx recovers from).
- ``heal``: ``ok``, and a warning naming the damaged or unwritable file (``says``).
- ``resume``: ``ok``, and the run says it resumed.
- ``sweep``: a multirun with failing jobs: a non-zero exit, failed.json in each failed job's
  folder, metrics.json in the others, no traceback.
- ``report``: bcx-report on runs with failures: exit 1, the failed runs listed, no traceback and
  no Python warning.
- ``notice``: a valid but huge value that bcx does not cap: still at work at the case's time
  limit, having first said what it is doing (``says``, in its output or train.log).

Where the catalogue's row cannot be rerun as written (it needs minutes of training, or a value
that is now refused before what the row tested), ``note`` says what changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

B = (
    "env=inverted_pendulum data.episodes=3 trainer.max_steps=100 rollout.episodes=2 "
    "rollout.every_n_steps=100"
)

# Files under $F that take training or collection to make (SB3 models, Minari exports); the
# others (broken zips, an empty or corrupt dataset, missing paths) are made in a moment.
HEAVY_FILES = frozenset(
    {
        "ppo_ip.zip",
        "sac_ip.zip",
        "sac_reacher.zip",
        "trunc.zip",
        "minari_ip",
        "minari_lane",
        "minari_cheetah",
        "minari_trunc",
        "minari_nan",
    }
)

# Scaled down from the catalogue's 6000 steps (checkpoint every 500): a fit long enough to be
# stopped in its middle after a mid-fit save, on a loaded 2-core machine.
KILL = (
    "bcx env=inverted_pendulum data.episodes=3 trainer.max_steps=3000 rollout.episodes=2 "
    "rollout.every_n_steps=1000 checkpoint.every_n_steps=250"
)
KILL_NOTE = "scaled down: 3000 steps, a mid-fit save every 250 (catalogue: 6000 and 500)"
# DAgger with three rounds, stopped in round 3's fit (catalogue: 1500 steps per round, saves
# every 250, measured every 500).
DAGGER = (
    "bcx env=inverted_pendulum data.episodes=3 trainer.max_steps=600 rollout.episodes=2 "
    "rollout.every_n_steps=300 checkpoint.every_n_steps=100 mitigation=dagger "
    "mitigation.rounds=3"
)
DAGGER_NOTE = "scaled down: 600 steps per round, saves every 100 (catalogue: 1500 and 250)"


@dataclass(frozen=True)
class Case:
    row: int  # the catalogue's row number
    id: str  # the catalogue's id
    kind: str  # bad-input | fault | control
    title: str
    cmd: str  # program and arguments, with $B, $S, $F, $W
    expect: tuple[str, ...] = ("error",)
    setup: str | None = None  # a named setup of qa.run_catalogue, run in the case's folder
    signal: tuple[str, str] | None = None  # (SIGINT | SIGTERM, when: "fit" | "collect")
    rlimit: tuple[tuple[str, int], ...] = ()  # ("fsize" | "as", bytes)
    after: str | None = None  # runs after that case, in its folder
    checks: tuple[str, ...] = ()  # extra checks, see qa.run_catalogue.judge
    says: str | None = None  # a regex some output line must match (stop, heal)
    codes: tuple[int, ...] = ()  # the exit codes a stop may end with (default: any non-zero)
    timeout: int = 300
    note: str = ""  # how this differs from the catalogue's row
    slow: bool = False  # never in the fast subset

    @property
    def files(self) -> set[str]:
        """The $F files the command names."""
        return set(re.findall(r"\$F/([\w.]+)", self.cmd))

    @property
    def fast(self) -> bool:
        """In the fast subset (tests/test_qa_fast.py): bad input that must stop before any
        work, needing no prepared state beyond cheap files and a finished run's folder."""
        return (
            self.expect == ("error",)
            and not self.slow
            and self.setup in (None, "copy_shared")
            and self.signal is None
            and not self.rlimit
            and self.after is None
            and not (self.files & HEAVY_FILES)
        )


def _c(row: int, id: str, kind: str, title: str, cmd: str, **kw) -> Case:
    return Case(row, id, kind, title, cmd.replace("$B", B), **kw)


def _bad(row: int, id: str, title: str, args: str, **kw) -> Case:
    """A row of the catalogue's usual form: ``bcx $B $S <args>``, bad input."""
    return _c(row, id, "bad-input", title, f"bcx $B $S {args}", **kw)


# One row per line group, as in the catalogue's table.
# fmt: off
CASES: tuple[Case, ...] = (
    _c(1, "C00", "control", "baseline good run into the shared folder $S", "bcx $B $S",
       expect=("ok",), setup="shared_run",
       note="this run makes $S (the runner's first step)"),
    _bad(2, "G1", "unknown env", "env=nope"),
    _bad(3, "G2", "unknown expert", "expert=nope"),
    _bad(4, "G3", "unknown policy", "policy=nope"),
    _bad(5, "G4", "unknown mitigation", "mitigation=nope"),
    _bad(6, "G5", "unknown trainer", "trainer=nope"),
    _bad(7, "G6", "unknown logger", "logger=nope"),
    _bad(8, "G7", "unknown experiment", "experiment=nope"),
    _bad(9, "G8", "unknown hparams_search", "hparams_search=nope"),
    _bad(10, "G9", "unknown equal_budget", "+equal_budget=nope"),
    _bad(11, "K1", "misspelled nested key data.episode", "data.episode=3"),
    _bad(12, "K2", "misspelled nested key optim.learning_rate", "optim.learning_rate=1"),
    _bad(13, "K3", "misspelled top-level key sed", "sed=1"),
    _bad(14, "K4", "added misspelled key +data.episode", "+data.episode=5"),
    _bad(15, "K5", "added unknown trainer kwarg +trainer.max_step", "+trainer.max_step=10"),
    _bad(16, "K6", "misspelled policy param policy.min_logstd", "policy.min_logstd=-3"),
    _bad(17, "K7", "added misspelled policy param +policy.componets (gmm)",
         "policy=gmm +policy.componets=3"),
    _bad(18, "T1", "data.episodes=abc", "data.episodes=abc"),
    _bad(19, "T2", "model.hidden=256 (int)", "model.hidden=256"),
    _c(20, "T3", "control", "model.hidden=[] (a linear policy)", "bcx $B $S model.hidden=[]",
       expect=("ok",),
       note="valid by design (docs/reliability.md: [] is a linear policy); the catalogue "
       "listed it among the inputs as a note"),
    _bad(21, "T4", "model.hidden=[0]", "model.hidden=[0]"),
    _bad(22, "T5", "model.activation=swish", "model.activation=swish"),
    _bad(23, "T6", "data.episodes=3.5", "data.episodes=3.5"),
    _bad(24, "T7", "data.episodes=true", "data.episodes=true"),
    _bad(25, "T8", "model.hidden=[64,-3]", "model.hidden=[64,-3]"),
    _bad(26, "T9", "model.hidden=[abc]", "model.hidden=[abc]"),
    _bad(27, "T10", "resume=maybe", "resume=maybe"),
    _bad(28, "T11", "seed=abc", "seed=abc"),
    _bad(29, "S1", "data.batch_size=0", "data.batch_size=0"),
    _bad(30, "S2", "data.batch_size=-1", "data.batch_size=-1"),
    _bad(31, "S3", "data.val_episodes=0", "data.val_episodes=0"),
    _bad(32, "S4", "data.val_episodes=3 (= episodes)", "data.val_episodes=3"),
    _bad(33, "S5", "rollout.num_envs=0", "rollout.num_envs=0"),
    _bad(34, "S6", "rollout.every_n_steps=0", "rollout.every_n_steps=0"),
    _bad(35, "S7", "trainer.max_steps=-5", "trainer.max_steps=-5"),
    _bad(36, "S8", "optim.lr=nan", "optim.lr=nan"),
    _bad(37, "S9", "optim.lr=inf", "optim.lr=inf"),
    _bad(38, "S10", "optim.weight_decay=-1", "optim.weight_decay=-1"),
    _bad(39, "S12", "rollout.episodes=0", "rollout.episodes=0"),
    _bad(40, "S13", "checkpoint.every_n_steps=0", "checkpoint.every_n_steps=0"),
    _bad(41, "S14", "trainer.val_check_interval=0", "trainer.val_check_interval=0"),
    _bad(42, "S15", "trainer.log_every_n_steps=0", "trainer.log_every_n_steps=0"),
    _bad(43, "S16", "model.obs_std_min=-1", "model.obs_std_min=-1",
         note="the catalogue's note (silently floored); the docs now require a number > 0"),
    _bad(44, "S17", "data.batch_size=10000000 (> dataset)", "data.batch_size=10000000",
         rlimit=(("as", 16 * 2**30),),
         note="run under a 16 GiB address-space cap (the catalogue's run was OOM-killed at "
         "24 GB); outside the fast subset for that reason only"),
    _c(45, "S18", "control", "trainer.val_check_interval=1000 (> max_steps)",
       "bcx $B $S trainer.val_check_interval=1000", expect=("ok",)),
    _bad(46, "R1", "rollout.seed=0 overlaps collection seeds", "rollout.seed=0"),
    _bad(47, "R2", "data.seed=1000000 overlaps eval seeds", "data.seed=1000000"),
    _bad(48, "R3", "rollout.seed=2 partial overlap", "rollout.seed=2"),
    _bad(49, "R4", "data.seed=-1 negative", "data.seed=-1"),
    _bad(50, "R5", "rollout.seed=-10 negative", "rollout.seed=-10"),
    _bad(51, "R6", "seed=4294967296 (> uint32)", "seed=4294967296"),
    _bad(52, "R7", "seed=-1", "seed=-1"),
    _bad(53, "P1", "policy=gmm policy.components=0", "policy=gmm policy.components=0"),
    _bad(54, "P2", "policy=discrete policy.bins=1", "policy=discrete policy.bins=1"),
    _bad(55, "P3", "policy=diffusion policy.steps=0", "policy=diffusion policy.steps=0"),
    _bad(56, "P4", "policy=flow policy.steps=0", "policy=flow policy.steps=0"),
    _bad(57, "P5", "gaussian min_log_std > max_log_std",
         "policy=gaussian policy.min_log_std=2 policy.max_log_std=-2"),
    _bad(58, "P6", "diffusion schedule=foo", "policy=diffusion policy.schedule=foo"),
    _bad(59, "P7", "diffusion steps > train_steps", "policy=diffusion policy.steps=200"),
    _bad(60, "P8", "gmm components=2.5", "policy=gmm policy.components=2.5"),
    _bad(61, "P9", "diffusion hidden=0", "policy=diffusion policy.hidden=0"),
    _bad(62, "P10", "discrete bins=abc", "policy=discrete policy.bins=abc"),
    _bad(63, "M1", "dagger rounds=0", "mitigation=dagger mitigation.rounds=0"),
    _bad(64, "M2", "dagger beta=2", "mitigation=dagger mitigation.beta=2"),
    _bad(65, "M3", "dart noise=-1", "mitigation=dart mitigation.noise=-1"),
    _bad(66, "M4", "augment copies=0", "mitigation=augment mitigation.copies=0"),
    _bad(67, "M5", "augment method=foo", "mitigation=augment mitigation.method=foo"),
    _bad(68, "M6", "dagger schedule=foo", "mitigation=dagger mitigation.schedule=foo"),
    _bad(69, "M7", "dagger label_budget=10 (< demos)",
         "mitigation=dagger mitigation.label_budget=10", slow=True,
         note="checked against the initial demonstrations, so it needs the warm demo cache; "
         "outside the fast subset"),
    _bad(70, "M8", "dagger episodes_per_round=0",
         "mitigation=dagger mitigation.episodes_per_round=0"),
    _bad(71, "M9", "augment scale=-1", "mitigation=augment mitigation.scale=-1"),
    _bad(72, "M10", "dart fit=true iterations=0",
         "mitigation=dart mitigation.fit=true mitigation.iterations=0"),
    _bad(73, "M11", "dart fit=true episodes_per_iteration=0",
         "mitigation=dart mitigation.fit=true mitigation.episodes_per_iteration=0"),
    _bad(74, "M12", "augment method=domain on pendulum",
         "mitigation=augment mitigation.method=domain"),
    _bad(75, "M13", "dagger beta=nan", "mitigation=dagger mitigation.beta=nan"),
    _bad(76, "M14", "dart noise=inf", "mitigation=dart mitigation.noise=inf"),
    _bad(77, "M15", "dagger rounds=2.5", "mitigation=dagger mitigation.rounds=2.5"),
    _bad(78, "M16", "dagger warm_start=maybe",
         "mitigation=dagger mitigation.rounds=2 mitigation.warm_start=maybe"),
    _bad(79, "M17", "augment scale=nan", "mitigation=augment mitigation.scale=nan"),
    _bad(80, "E1", "expert=lqr env=reacher", "env=reacher expert=lqr"),
    _bad(81, "E2", "expert=zoo env=inverted_pendulum", "expert=zoo"),
    _bad(82, "E3", "expert=sb3 no path", "expert=sb3"),
    _bad(83, "E4", "expert=sb3 missing path", "expert=sb3 expert.path=$F/missing.zip"),
    _bad(84, "E5", "expert=sb3 non-zip file", "expert=sb3 expert.path=$F/notzip.zip"),
    _bad(85, "E6", "expert=sb3 truncated zip", "expert=sb3 expert.path=$F/trunc.zip"),
    _bad(86, "E7", "expert=sb3 PPO zip with algo=sac", "expert=sb3 expert.path=$F/ppo_ip.zip"),
    _bad(87, "E8", "expert=sb3 SAC zip for Reacher on pendulum",
         "expert=sb3 expert.path=$F/sac_reacher.zip"),
    _bad(88, "E9", "expert=sb3 zip with garbage inside",
         "expert=sb3 expert.path=$F/garbage_inside.zip"),
    _bad(89, "E10", "expert=sb3 empty file", "expert=sb3 expert.path=$F/empty.zip"),
    _bad(90, "E11", "expert=sb3 path is a directory", "expert=sb3 expert.path=$F"),
    _bad(91, "E12", "expert=sb3 algo=foo",
         "expert=sb3 expert.path=$F/sac_ip.zip expert.algo=foo"),
    _bad(92, "E13", "expert=sb3 vecnormalize missing",
         "expert=sb3 expert.path=$F/sac_ip.zip expert.vecnormalize=$F/missing.pkl"),
    _bad(93, "E14", "expert=sb3 vecnormalize not a pickle",
         "expert=sb3 expert.path=$F/sac_ip.zip expert.vecnormalize=$F/notzip.zip"),
    _bad(94, "E15", "expert=pd env=inverted_pendulum", "expert=pd"),
    _bad(95, "E16", "expert=stanley env=inverted_pendulum", "expert=stanley"),
    _c(96, "E17", "control", "expert=sb3 valid SAC on pendulum",
       "bcx $B $S expert=sb3 expert.path=$F/sac_ip.zip", expect=("ok",)),
    _c(97, "E18", "bad-input", "expert=zoo zoo_dir=missing env=hopper",
       "bcx env=hopper data.episodes=2 trainer.max_steps=50 rollout.episodes=1 "
       "rollout.every_n_steps=50 $S expert.zoo_dir=$F/nozoo"),
    _bad(98, "D1", "minari missing dir", "data.source=minari data.path=$F/nonexistent"),
    _bad(99, "D2", "minari no data.path", "data.source=minari"),
    _bad(100, "D3", "minari empty dir", "data.source=minari data.path=$F/minari_empty"),
    _bad(101, "D4", "minari corrupt hdf5", "data.source=minari data.path=$F/minari_corrupt"),
    _bad(102, "D5", "minari truncated hdf5", "data.source=minari data.path=$F/minari_trunc"),
    _bad(103, "D6", "minari dataset of another env (lane on pendulum)",
         "data.source=minari data.path=$F/minari_lane"),
    _bad(104, "D7", "minari too few episodes",
         "data.source=minari data.path=$F/minari_ip data.episodes=10"),
    _bad(105, "D8", "data.source=foo", "data.source=foo"),
    _bad(106, "D9", "minari + dart", "data.source=minari data.path=$F/minari_ip mitigation=dart"),
    _c(107, "D10", "control", "minari valid",
       "bcx $B $S data.source=minari data.path=$F/minari_ip", expect=("ok",)),
    _bad(108, "D11", "minari path is a file (metadata.json)",
         "data.source=minari data.path=$F/minari_ip/data/metadata.json"),
    _c(109, "D12", "bad-input", "minari pendulum dataset on env=fork (act dims differ)",
       "bcx env=fork data.episodes=3 trainer.max_steps=100 rollout.episodes=2 "
       "rollout.every_n_steps=100 $S data.source=minari data.path=$F/minari_ip"),
    _c(110, "F1", "fault", "truncated demo cache npz, rerun same command", "bcx $B $S",
       setup="cache_truncate", expect=("heal",), says=r"is damaged|treating it as absent"),
    _c(111, "F2", "fault", "zero-byte demo cache npz, rerun", "bcx $B $S",
       setup="cache_zero", expect=("heal",), says=r"is damaged|treating it as absent"),
    _c(112, "F3", "fault", "valid npz with inconsistent arrays (obs truncated) in cache",
       "bcx $B $S", setup="cache_inconsistent", expect=("heal", "stop"),
       says=r"is damaged|treating it as absent|^bcx: "),
    _c(113, "X1", "fault", "kill -9 mid-fit, then the same command again",
       f"{KILL} hydra.run.dir=outputs/qa_kill/k1b", setup="killed_fit", expect=("resume",),
       checks=("same_as_reference",), timeout=600, note=KILL_NOTE),
    _c(114, "F8", "fault", "fit.ckpt of a killed run truncated to 100 kB, rerun (resume=true)",
       f"{KILL} hydra.run.dir=outputs/qa_kill/k1c resume=true", setup="killed_fit_truncated",
       expect=("heal",), says=r"fit\.ckpt.*(not a readable|damaged|absent)", timeout=600,
       note=KILL_NOTE),
    _c(115, "X5", "fault", "rerun of a FINISHED DAgger command",
       "bcx $B hydra.run.dir=outputs/qa_dagger_rerun mitigation=dagger mitigation.rounds=2 "
       "mitigation.warm_start=true", setup="finished_dagger", expect=("ok",),
       checks=("not_resumed", "rounds=2"), timeout=600,
       note="warm_start=true for the catalogue's warm_start=maybe (now refused, row M16)"),
    _c(116, "F9", "fault", "a DAgger round store's round checkpoint truncated, rerun",
       f"{DAGGER} hydra.run.dir=outputs/qa_dagger_f9", setup="killed_dagger_truncated",
       expect=("heal",), says=r"round-\d+\.ckpt.*(not a readable|damaged|absent)", timeout=600,
       note="the store of a DAgger run killed in round 3 (finished runs now clear theirs); "
       + DAGGER_NOTE),
    _c(117, "F10", "fault", "state.json of a DAgger round store made invalid JSON, rerun",
       f"{DAGGER} hydra.run.dir=outputs/qa_dagger_f10", setup="killed_dagger_bad_state",
       expect=("ok", "heal"), timeout=600,
       note="the store of a DAgger run killed in round 3; " + DAGGER_NOTE),
    _c(118, "F8b", "fault", "same corrupt fit.ckpt, rerun with resume=false",
       f"{KILL} hydra.run.dir=outputs/qa_kill/k1d resume=false",
       setup="killed_fit_truncated", expect=("ok",), timeout=600, note=KILL_NOTE),
    _c(119, "X2", "fault", "DAgger rounds=3 killed -9 in round 3's fit, rerun",
       f"{DAGGER} hydra.run.dir=outputs/qa_kill/dag_kb", setup="killed_dagger",
       expect=("resume",), checks=("rounds=3",), timeout=600,
       note=DAGGER_NOTE + "; checks the rounds history, not bit-identity to a reference"),
    _c(120, "X3", "fault", "SIGINT (Ctrl-C) mid-training, 1 s after the first mid-fit save",
       f"{KILL} hydra.run.dir=outputs/qa_kill/int1", signal=("SIGINT", "fit"),
       expect=("stop",), says=r"KeyboardInterrupt|interrupted|^bcx: ", timeout=600,
       note=KILL_NOTE),
    _c(121, "X3b", "fault", "rerun after the SIGINT of X3",
       f"{KILL} hydra.run.dir=outputs/qa_kill/int1b", after="X3", expect=("resume",),
       timeout=600, note=KILL_NOTE),
    _c(122, "X4", "fault", "SIGTERM mid-training", f"{KILL} hydra.run.dir=outputs/qa_kill/term1",
       signal=("SIGTERM", "fit"), expect=("stop",), codes=(143,), timeout=600, note=KILL_NOTE),
    _c(123, "X8", "fault", "SIGINT during demo collection (before training)",
       "bcx env=inverted_double_pendulum data.episodes=400 data.seed=900 trainer.max_steps=100 "
       "rollout.episodes=2 rollout.every_n_steps=100 hydra.run.dir=outputs/qa_X8b",
       signal=("SIGINT", "collect"), expect=("stop",), timeout=300,
       note="SIGINT 4 s after the run folder's train.log appears (catalogue: 6 s after start)"),
    _c(124, "X6", "bad-input", "multirun, 2 of 4 jobs with data.episodes=0",
       "bcx -m env=inverted_pendulum seed=0,1 data.episodes=3,0 trainer.max_steps=100 "
       "rollout.episodes=2 rollout.every_n_steps=100 hydra.sweep.dir=outputs/qa_multi",
       expect=("sweep", "error"), timeout=600),
    _c(125, "X7", "bad-input", "multirun, one job with a value that used to crash",
       "bcx -m env=inverted_pendulum optim.weight_decay=-1,0 data.episodes=3 "
       "trainer.max_steps=100 rollout.episodes=2 rollout.every_n_steps=100 "
       "hydra.sweep.dir=outputs/qa_multi2", expect=("error", "sweep"), timeout=600, slow=True),
    _c(126, "N_1e30", "fault", "NaN loss: optim.lr=1e30 (checkpoint.every_n_steps=10)",
       "bcx env=inverted_pendulum data.episodes=3 trainer.max_steps=500 rollout.episodes=2 "
       "rollout.every_n_steps=100 checkpoint.every_n_steps=10 optim.lr=1e30 "
       "hydra.run.dir=outputs/qa_nan_1e30", expect=("nan",)),
    _c(127, "N_1e4", "fault", "NaN loss: optim.lr=1e4",
       "bcx env=inverted_pendulum data.episodes=3 trainer.max_steps=500 rollout.episodes=2 "
       "rollout.every_n_steps=100 checkpoint.every_n_steps=10 optim.lr=1e4 "
       "hydra.run.dir=outputs/qa_nan_1e4", expect=("nan",)),
    _c(128, "N_1e4_c1", "fault", "NaN loss: optim.lr=1e4, checkpoint.every_n_steps=1",
       "bcx env=inverted_pendulum data.episodes=3 trainer.max_steps=1000 rollout.episodes=2 "
       "rollout.every_n_steps=1000 checkpoint.every_n_steps=1 optim.lr=1e4 "
       "hydra.run.dir=outputs/qa_nan_1e4_c1", expect=("nan",)),
    _c(129, "Z1", "bad-input", "policy._target_=builtins.print",
       "bcx $B hydra.run.dir=outputs/qa_sec policy._target_=builtins.print"),
    _c(130, "Z2", "bad-input", "gaussian_fixed + _target_=builtins.print + _args_",
       "bcx $B hydra.run.dir=outputs/qa_sec policy=gaussian_fixed "
       "policy._target_=builtins.print +policy._args_=[HELLO_FROM_HYDRA_TARGET] "
       "policy._partial_=false", checks=("not_printed:HELLO_FROM_HYDRA_TARGET",)),
    _c(131, "Z3", "bad-input", "policy._target_=os.system +_args_=[true]",
       "bcx $B hydra.run.dir=outputs/qa_sec policy=gaussian_fixed policy._target_=os.system "
       "+policy._args_=[true] policy._partial_=false"),
    _c(132, "Z4", "bad-input", "trainer._target_=builtins.dict",
       "bcx $B hydra.run.dir=outputs/qa_sec trainer._target_=builtins.dict"),
    _c(133, "Z5", "bad-input", "expert._target_=builtins.print",
       "bcx $B hydra.run.dir=outputs/qa_sec expert._target_=builtins.print"),
    _c(134, "Z6", "bad-input", "hydra.callbacks.x._target_=builtins.print (callback target)",
       "bcx $B hydra.run.dir=outputs/qa_sec +hydra.callbacks.x._target_=builtins.print",
       note="the catalogue recorded it as a security note, not a defect"),
    _c(135, "Z7", "control", "path traversal in hydra.run.dir",
       "bcx $B hydra.run.dir=outputs/../../trav_run", expect=("ok",),
       note="writes beside the case's folder, as the catalogue's wrote beside its clone"),
    _c(136, "Z8", "control", "path traversal in data.cache_dir",
       "bcx $B hydra.run.dir=outputs/qa_sec2 data.cache_dir=../trav_cache", expect=("ok",)),
    _c(137, "Z9", "control", "run_dir override separately from hydra.run.dir",
       "bcx $B hydra.run.dir=outputs/qa_sec3 run_dir=$W/trav_rundir", expect=("ok", "error"),
       note="the catalogue's note (D18: the run split across two folders); running or "
       "refusing are both accepted"),
    _c(138, "Z10", "control", "resume_dir traversal",
       "bcx $B hydra.run.dir=outputs/qa_sec4 resume_dir=../trav_resume "
       "checkpoint.every_n_steps=50", expect=("ok",)),
    _c(139, "F4a", "fault", "cache dir read-only (chattr +i), file absent",
       "bcx $B hydra.run.dir=outputs/qa_ro1 data.cache_dir=rocache", setup="read_only_cache",
       expect=("heal", "error"), says=r"rocache"),
    _c(140, "F4b", "fault", "cache dir read-only, file present",
       "bcx $B hydra.run.dir=outputs/qa_ro2 data.cache_dir=rocache",
       setup="read_only_cache_with_file", expect=("ok",)),
    _c(141, "F5", "fault", "run dir read-only (chattr +i)", "bcx $B hydra.run.dir=rorun",
       setup="read_only_run_dir", expect=("error", "stop"), says=r"^bcx: .*rorun"),
    _c(142, "F5b", "fault", "resume_dir read-only",
       "bcx $B hydra.run.dir=outputs/qa_ro3 resume_dir=roresume checkpoint.every_n_steps=50",
       setup="read_only_resume_dir", expect=("heal", "error"), says=r"roresume"),
    _c(143, "F5c", "fault", "data.cache_dir below a regular file",
       "bcx $B hydra.run.dir=outputs/qa_ro4 data.cache_dir=afile/sub", setup="a_file",
       expect=("error", "heal"), says=r"afile"),
    _c(144, "F6", "fault", "disk-full-like: ulimit -f 40 (EFBIG) on the demo cache write",
       "bcx $B hydra.run.dir=outputs/qa_full1 data.cache_dir=fullcache",
       rlimit=(("fsize", 40 * 1024),), expect=("heal", "stop"),
       says=r"could not cache|File too large|^bcx: ", checks=("no_partial_files",)),
    _c(145, "F7", "fault", "disk-full-like: ulimit -f 400, fit.ckpt write fails mid-fit",
       "bcx $B hydra.run.dir=outputs/qa_full2 checkpoint.every_n_steps=50",
       rlimit=(("fsize", 400 * 1024),), expect=("stop",), checks=("no_partial_files",)),
    _c(146, "F7b", "fault", "disk-full-like: ulimit -f 400, last.ckpt write fails at the end",
       "bcx $B hydra.run.dir=outputs/qa_full3 checkpoint.every_n_steps=100",
       rlimit=(("fsize", 400 * 1024),), expect=("stop",), checks=("no_partial_files",)),
    _c(147, "V1", "control", "rollout.video=true env=lane",
       "bcx env=lane data.episodes=3 trainer.max_steps=100 rollout.episodes=2 "
       "rollout.every_n_steps=100 hydra.run.dir=outputs/qa_v1 rollout.video=true",
       expect=("ok",),
       note="valid since lane has cameras (issue 14): it renders rgb_array and records the "
       "video; the catalogue listed it as bad input when lane rendered nothing"),
    _c(148, "V2", "bad-input", "trainer=gpu on a CPU-only machine",
       "bcx $B hydra.run.dir=outputs/qa_v2 trainer=gpu",
       note="bad input only on a machine without a GPU"),
    _c(149, "V3", "bad-input", "logger=wandb logger.mode=foo",
       "bcx $B hydra.run.dir=outputs/qa_v3 logger=wandb logger.mode=foo"),
    _c(150, "V4", "bad-input", "optimized_metric=foo",
       "bcx $B hydra.run.dir=outputs/qa_v4 optimized_metric=foo"),
    _c(151, "V5", "bad-input", "env.id=Nope-v0",
       "bcx $B hydra.run.dir=outputs/qa_v5 env.id=Nope-v0"),
    _c(152, "V6", "bad-input", "+env.kwargs.foo=1 (bad gym.make kwarg)",
       "bcx $B hydra.run.dir=outputs/qa_v6 +env.kwargs.foo=1"),
    _c(153, "V7", "bad-input", "rollout.deterministic=maybe",
       "bcx $B hydra.run.dir=outputs/qa_v7 rollout.deterministic=maybe"),
    _c(154, "V8", "bad-input", "trainer.devices=0",
       "bcx $B hydra.run.dir=outputs/qa_v8 trainer.devices=0"),
    _c(155, "V9", "bad-input", "trainer.accelerator=tpu",
       "bcx $B hydra.run.dir=outputs/qa_v9 trainer.accelerator=tpu"),
    _c(156, "V10", "control", "policy=discrete on env=fork (2-D actions)",
       "bcx env=fork data.episodes=3 trainer.max_steps=100 rollout.episodes=2 "
       "rollout.every_n_steps=100 hydra.run.dir=outputs/qa_v10 policy=discrete",
       expect=("ok",)),
    _c(157, "V11", "bad-input", "logger=tensorboard with logger.save_dir=null",
       "bcx $B hydra.run.dir=outputs/qa_v11 logger=tensorboard logger.save_dir=null"),
    _c(158, "H1", "bad-input", "data.batch_size=10000000 under ulimit -v 10 GB",
       "bcx $B hydra.run.dir=outputs/qa_H1 data.batch_size=10000000",
       rlimit=(("as", 10_000_000 * 1024),)),
    _c(159, "H2", "bad-input", "model.hidden=[100000,100000] under ulimit -v 10 GB",
       "bcx $B hydra.run.dir=outputs/qa_H2 model.hidden=[100000,100000]",
       rlimit=(("as", 10_000_000 * 1024),)),
    _c(160, "H3", "bad-input", "rollout.num_envs=100000 under ulimit -v 10 GB",
       "bcx $B hydra.run.dir=outputs/qa_H3 rollout.num_envs=100000",
       rlimit=(("as", 10_000_000 * 1024),)),
    _c(161, "H4", "bad-input", "data.episodes=1000000",
       "bcx env=inverted_pendulum trainer.max_steps=100 rollout.episodes=2 "
       "rollout.every_n_steps=100 hydra.run.dir=outputs/qa_H4 data.episodes=1000000",
       timeout=120, slow=True, expect=("error", "notice"),
       says=r"demonstrations to collect: 1000000 episodes",
       note="120 s cap (catalogue: 25 s; starting bcx alone takes ~10 s here); the docs now "
       "promise no cap but a notice before collecting"),
    _c(162, "R8", "bad-input", "DAgger rounds collect on evaluation seeds (rollout.seed=4)",
       "bcx $B hydra.run.dir=outputs/qa_R8 mitigation=dagger mitigation.rounds=3 "
       "rollout.seed=4 resume=false"),
    _c(163, "R9", "bad-input", "fitted DART collects on evaluation seeds (rollout.seed=3)",
       "bcx $B hydra.run.dir=outputs/qa_R9 mitigation=dart mitigation.fit=true "
       "mitigation.iterations=2 rollout.seed=3 resume=false"),
    _c(164, "V12", "bad-input", "hydra.job.chdir=true (relative cache/resume dirs)",
       "bcx $B hydra.run.dir=outputs/qa_V12 hydra.job.chdir=true", expect=("error", "ok"),
       checks=("paths_not_moved",),
       note="refusing it or keeping the relative paths where bcx was launched are both "
       "accepted (the catalogue's D18)"),
    _c(165, "L1", "bad-input", "NaN run (optim.lr=inf) into the folder of an earlier good run",
       "bcx $B hydra.run.dir=outputs/qa_L1 optim.lr=inf", setup="copy_shared",
       note="the earlier good run is a copy of $S"),
    _c(166, "RP1", "fault", "bcx-report on the X6 sweep (2 failed jobs)",
       "bcx-report outputs/qa_multi", after="X6", expect=("report",)),
    _c(167, "RP2", "fault", "bcx-report, one metrics.json truncated",
       "bcx-report outputs/qa_multi_bad", after="RP1", setup="truncated_metrics",
       expect=("report",), says=r"metrics\.json"),
    _c(168, "RP3", "bad-input", "bcx-report on a missing folder", "bcx-report outputs/nope"),
    _c(169, "M18", "bad-input", "dagger label_budget=-5",
       "bcx $B hydra.run.dir=outputs/qa_b10 mitigation=dagger mitigation.label_budget=-5"),
    _c(170, "M19", "bad-input", "dagger label_budget=abc",
       "bcx $B hydra.run.dir=outputs/qa_b10 mitigation=dagger mitigation.label_budget=abc"),
    _c(171, "M20", "control", "dagger schedule=linear rounds=1",
       "bcx $B hydra.run.dir=outputs/qa_b10 mitigation=dagger mitigation.schedule=linear "
       "mitigation.rounds=1", expect=("ok",)),
    _c(172, "M21", "bad-input", "dagger seed=abc",
       "bcx $B hydra.run.dir=outputs/qa_b10 mitigation=dagger mitigation.rounds=2 "
       "mitigation.seed=abc"),
    _c(173, "M22", "bad-input", "augment seed=-1",
       "bcx $B hydra.run.dir=outputs/qa_b10 mitigation=augment mitigation.seed=-1"),
    _c(174, "M23", "bad-input", "dart episodes_per_iteration=abc (fit=true)",
       "bcx $B hydra.run.dir=outputs/qa_b10 mitigation=dart mitigation.fit=true "
       "mitigation.episodes_per_iteration=abc"),
    _c(175, "P11", "bad-input", "gmm min_log_std > max_log_std",
       "bcx $B hydra.run.dir=outputs/qa_b10 policy=gmm policy.min_log_std=2 "
       "policy.max_log_std=-2"),
    _c(176, "P12", "bad-input", "diffusion eta=-1",
       "bcx $B hydra.run.dir=outputs/qa_b10 policy=diffusion policy.eta=-1"),
    _c(177, "P13", "bad-input", "diffusion train_steps=1",
       "bcx $B hydra.run.dir=outputs/qa_b10 policy=diffusion policy.train_steps=1 "
       "policy.steps=1"),
    _c(178, "P14", "bad-input", "gaussian max_log_std=nan",
       "bcx $B hydra.run.dir=outputs/qa_b10 policy=gaussian policy.max_log_std=nan"),
    _c(179, "D13", "bad-input", "minari dataset with a NaN observation",
       "bcx $B hydra.run.dir=outputs/qa_D13 data.source=minari data.path=$F/minari_nan"),
    _c(180, "S19", "control", "trainer.max_steps=1 (edge, valid)",
       "bcx $B hydra.run.dir=outputs/qa_b11 trainer.max_steps=1", expect=("ok",)),
    _c(181, "S20", "control", "data.batch_size=1 (edge, valid)",
       "bcx $B hydra.run.dir=outputs/qa_b11 data.batch_size=1", expect=("ok",)),
    _c(182, "S21", "bad-input", "data.episodes=1 (val_episodes=1 default)",
       "bcx $B hydra.run.dir=outputs/qa_b11 data.episodes=1"),
    _c(183, "E19", "bad-input", "expert=sb3 SAC file with expert.algo=td3",
       "bcx $B hydra.run.dir=outputs/qa_b11 expert=sb3 expert.path=$F/sac_ip.zip "
       "expert.algo=td3"),
    _c(184, "E20", "bad-input", "expert=sb3 expert.path='' (empty string)",
       "bcx $B hydra.run.dir=outputs/qa_b11 expert=sb3 expert.path=''"),
    _c(185, "D14", "bad-input", "HalfCheetah Minari dataset with env=walker2d (same shapes)",
       "bcx env=walker2d data.source=minari data.path=$F/minari_cheetah data.episodes=3 "
       "trainer.max_steps=100 rollout.episodes=2 rollout.every_n_steps=100 "
       "hydra.run.dir=outputs/qa_D14"),
    _c(186, "T12", "bad-input", "resume=no while a killed run's fit.ckpt exists",
       "bcx env=inverted_pendulum data.episodes=3 trainer.max_steps=1000 rollout.episodes=2 "
       "rollout.every_n_steps=1000 checkpoint.every_n_steps=1 optim.lr=1e4 "
       "hydra.run.dir=outputs/qa_T12 resume=no",
       note="no killed run first: resume=no is refused before anything reads resume_dir"),
)
# fmt: on

BY_ID = {case.id: case for case in CASES}
assert len(CASES) == 186 and len(BY_ID) == 186, "the catalogue has 186 rows"
assert [case.row for case in CASES] == list(range(1, 187))

# The catalogue's Totals section (commit b23607f), for the before/after table.
BEFORE = {
    "cases": 186,
    "clean stops": 88,
    "exit 0 on bad input": 15,
    "failures after work started": 26,
    "tracebacks": 40,
}
