"""probe's recorder for PyTorch: the same Arrow traces as probe's engine, from your own loop.

    from probe_torch import attach
    with attach(model, out="runs", run="relu-sigmoid-relu_s1", optimizer=opt) as rec:
        for epoch in range(epochs):
            for x, y in train_loader:
                opt.zero_grad(); loss = F.nll_loss(model(x), y); loss.backward(); opt.step()
                rec.step(loss, y)
            rec.evaluate(test_loader)
"""
from ._recorder import Recorder, __version__, attach

__all__ = ["attach", "Recorder", "__version__"]
