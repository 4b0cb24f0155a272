"""The training loop: minibatches, loss, backward, optimizer step, checkpoints.

A quantizer plugs in through :class:`Hook`: it decides which weight values the
forward pass uses, turns their gradients into gradients of its float shadow
weights and its own variables, and may adjust things after each step (the
LUT-Q k-means step).  Without a hook this is plain float fine-tuning.
"""

from __future__ import annotations

import copy
import json
import signal
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph
from nnb.train.autograd import Program
from nnb.train.evaluate import accuracy
from nnb.train.loss import check_labels, logits_name, softmax_cross_entropy
from nnb.train.optim import Schedule, make_optimizer
from nnb.train.progress import Progress


@dataclass
class TrainConfig:
    epochs: float = 1.0
    batch: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_epochs: int = 1
    gamma: float = 0.1
    warmup: int = 0
    seed: int = 0
    batch_stat: bool = True  # BatchNormalization uses batch statistics while training, as nnabla's training graph
    progress: bool = True
    log_every: int = 50  # steps between entries of Trainer.steps (the training curve of a report)


class Hook:
    """Quantizer interface; the defaults are a no-op (float training)."""

    def forward_params(self, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return params

    def backward(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> tuple[dict, float]:
        """Gradients for the optimizer (shadow weights and ``variables()``) and any penalty added to the loss."""
        return grads, 0.0

    def variables(self) -> dict[str, np.ndarray]:
        return {}

    def act_quantizers(self, training: bool = False) -> dict[str, object]:
        """Activation quantizers by tensor name (empty: float activations)."""
        return {}

    def after_step(self, params: dict[str, np.ndarray]) -> None:
        pass

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        pass


class Interrupted(Exception):
    """Raised by :meth:`Trainer.fit` after Ctrl-C once the checkpoint is written."""

    def __init__(self, path: str | None) -> None:
        super().__init__(path or "")
        self.path = path


class Trainer:
    """Holds the float parameters, the optimizer and the position in the run."""

    def __init__(self, graph: Graph, cfg: TrainConfig, hook: Hook | None = None) -> None:
        if cfg.batch <= 0 or cfg.epochs <= 0:
            raise NnbError("--batch and --epochs must be positive")
        self.graph, self.cfg, self.hook = graph, cfg, hook or Hook()
        self.params = {t.name: np.array(t.data, dtype=np.float32) for t in graph.params()}
        self.trainable = [t.name for t in graph.params() if t.need_grad]
        self.prog = Program(graph, logits_name(graph), wrt=self.trainable)
        self.num_classes = int(np.prod(graph.tensors[self.prog.target].shape[1:]))
        self.opt = make_optimizer(cfg.optimizer, cfg.weight_decay, cfg.momentum)
        self.var_opt = make_optimizer(cfg.optimizer, 0.0, cfg.momentum)  # a quantizer's own variables
        self.it = 0  # iterations done in the whole run
        self.history: list[dict[str, float]] = []
        self.steps: list[dict[str, float]] = []  # every cfg.log_every steps: it, loss, acc over that window

    # ---- one step ---------------------------------------------------------------
    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, int]:
        values = self.hook.forward_params(self.params)
        self.prog.act = self.hook.act_quantizers(training=True)
        tape = self.prog.forward({self.graph.inputs[0]: x}, values, training=self.cfg.batch_stat,
                                 update_stats=self.cfg.batch_stat)
        loss, g, hits = softmax_cross_entropy(tape.values[self.prog.target], y)
        grads = self.prog.backward(tape, g)
        grads, penalty = self.hook.backward(self.params, grads)
        self.opt.step(self.params, {k: v for k, v in grads.items() if k in self.params}, lr)
        variables = self.hook.variables()
        if variables:
            self.var_opt.step(variables, {k: v for k, v in grads.items() if k in variables},
                              lr * getattr(self.hook, "lr_scale", 1.0))
        self.hook.after_step(self.params)
        return loss + penalty, hits

    # ---- the loop ----------------------------------------------------------------
    def fit(self, x: np.ndarray, y: np.ndarray, checkpoint: str | None = None,
            val: tuple[np.ndarray, np.ndarray] | None = None,
            on_epoch: Callable[[dict[str, float]], None] | None = None) -> list[dict[str, float]]:
        """Train for ``cfg.epochs`` (resuming at ``self.it``); Ctrl-C saves ``checkpoint`` and raises Interrupted."""
        y = check_labels(y, self.num_classes)
        if len(x) != len(y):
            raise NnbError(f"{len(x)} samples but {len(y)} labels")
        if len(x) == 0:
            raise NnbError("no training data")
        cfg = self.cfg
        batch = min(cfg.batch, len(x))
        per_epoch = len(x) // batch
        total = max(1, int(round(cfg.epochs * per_epoch)))
        sched = Schedule(cfg.schedule, cfg.lr, total, per_epoch, cfg.step_epochs, cfg.gamma, cfg.warmup)
        stop = {"flag": False}
        self._window = [0.0, 0, 0, self.it]  # loss sum, hits, samples, iteration at the window start
        log_every = max(1, min(cfg.log_every, per_epoch // 10))  # short runs still get a curve

        def on_sigint(signum: int, frame: Any) -> None:
            if stop["flag"]:  # a second Ctrl-C does not wait for the step to finish
                raise KeyboardInterrupt
            stop["flag"] = True

        old = _install(on_sigint)
        try:
            while self.it < total:
                epoch, start = divmod(self.it, per_epoch)
                perm = np.random.default_rng([cfg.seed, epoch]).permutation(len(x))
                n_ep = min(per_epoch, total - epoch * per_epoch)
                bar = Progress(n_ep, prefix=f"epoch {epoch + 1}/{int(np.ceil(total / per_epoch))} ",
                               enabled=cfg.progress)
                losses, hits, seen = [], 0, 0
                for i in range(start, n_ep):
                    idx = np.sort(perm[i * batch:(i + 1) * batch])
                    loss, h = self.step(x[idx], y[idx], sched(self.it))
                    self.it += 1
                    losses.append(loss)
                    hits, seen = hits + h, seen + len(idx)
                    win = self._window
                    win[0], win[1], win[2] = win[0] + loss, win[1] + h, win[2] + len(idx)
                    if self.it % log_every == 0 or i + 1 == n_ep:
                        steps = self.it - int(win[3])
                        self.steps.append({"it": self.it, "epoch": self.it / per_epoch,
                                           "loss": win[0] / max(steps, 1), "acc": win[1] / max(win[2], 1)})
                        self._window = [0.0, 0, 0, self.it]
                    bar.update(i + 1, loss=float(np.mean(losses[-50:])), acc=hits / seen)
                    if stop["flag"]:
                        bar.close()
                        if checkpoint:
                            self.save_checkpoint(checkpoint)
                        raise Interrupted(checkpoint)
                bar.update(n_ep, force=True, loss=float(np.mean(losses)) if losses else float("nan"),
                           acc=hits / max(seen, 1))
                bar.close()
                rec = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan"),
                       "train_acc": hits / max(seen, 1), "train_samples": seen}
                if val is not None:
                    rec["val_acc"] = self.evaluate(*val)
                self.history.append(rec)
                if on_epoch:
                    on_epoch(rec)
        finally:
            _restore(old)
        return self.history

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> float:
        return accuracy(self.graph, x, check_labels(y, self.num_classes), self.inference_params(),
                        act=self.hook.act_quantizers())

    def inference_params(self) -> dict[str, np.ndarray]:
        return self.hook.forward_params(self.params)

    def trained_graph(self) -> Graph:
        """A copy of the graph carrying the parameters the network should run with."""
        g = copy.deepcopy(self.graph)
        values = self.inference_params()
        for t in g.params():
            t.data = np.ascontiguousarray(values[t.name], dtype=np.float32)
        return g

    # ---- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, path: str) -> None:
        meta = {"it": self.it, "config": asdict(self.cfg), "history": self.history, "steps": self.steps}
        arrays = {f"p/{k}": v for k, v in self.params.items()}
        arrays.update({f"o/{k}": v for k, v in self.opt.state_dict().items()})
        arrays.update({f"v/{k}": v for k, v in self.var_opt.state_dict().items()})
        arrays.update({f"h/{k}": v for k, v in self.hook.state_dict().items()})
        arrays["meta"] = np.array(json.dumps(meta))
        try:
            with open(path, "wb") as f:
                np.savez(f, **arrays)
        except OSError as e:
            raise NnbError(f"{path}: cannot write checkpoint ({e.strerror})") from None

    def load_checkpoint(self, path: str) -> None:
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise NnbError(f"{path}: not a readable checkpoint ({e})") from None
        if "meta" not in d:
            raise NnbError(f"{path}: not an nnb training checkpoint")
        meta = json.loads(str(d["meta"]))
        params = {k[2:]: v for k, v in d.items() if k.startswith("p/")}
        if set(params) != set(self.params) or any(params[k].shape != self.params[k].shape for k in params):
            raise NnbError(f"{path}: checkpoint parameters do not match the model")
        self.params = {k: np.array(v, dtype=np.float32) for k, v in params.items()}
        self.opt.load_state_dict({k[2:]: v for k, v in d.items() if k.startswith("o/")})
        self.var_opt.load_state_dict({k[2:]: v for k, v in d.items() if k.startswith("v/")})
        self.hook.load_state_dict({k[2:]: v for k, v in d.items() if k.startswith("h/")})
        self.it = int(meta["it"])
        self.history = list(meta.get("history", []))
        self.steps = list(meta.get("steps", []))


def _install(handler: Callable[[int, Any], None]) -> Any:
    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: Ctrl-C handling is the caller's business
        return None


def _restore(old: Any) -> None:
    if old is not None:
        signal.signal(signal.SIGINT, old)
