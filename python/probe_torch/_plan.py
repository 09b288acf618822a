"""Which parts of a PyTorch model the probes see, found from one forward pass.

A probed layer is a Linear or convolution followed by its activation, with z the activation's input
(after batch normalization, when a BatchNorm sits between them: the engine's z) and a its output.
The activation is the module its output flows into (nn.ReLU, nn.Sigmoid, …: found by following the
very tensors through the forward pass, so a shared `self.relu` or a custom forward works), or the
one `activations=` names for a functional activation (`F.relu(self.fc1(x))`), or none (`linear`).
An activation module whose input is not such a layer's output (after a residual sum, say) is a
layer of its own, without weights. Anything else is listed as not probed, with the reason.
"""
import math

from torch import nn

from . import _activations as A

WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
MAX_LAYERS = 127  # the trace's layer column is 8-bit


def role_of(module):
    if isinstance(module, WEIGHTED):
        return "weighted"
    if isinstance(module, NORMS):
        return "norm"
    if A.module_activation(module) is not None:
        return "activation"
    return None


def why_not(module):
    if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
        return "softmax belongs to the loss: the layer before it is probed with its own activation"
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return "dropout: it only zeroes values"
    if any(True for _ in module.parameters(recurse=False)):
        return f"{type(module).__name__} is not a layer kind the probes know (they know Linear, convolutions and activations)"
    return "no activation: it only moves, pools or normalizes values"


class Layer:
    """One probed layer. `module` is its Linear/convolution, or the activation module of a layer
    without weights; `z_module` is the module whose output is z (None: z is the activation
    module's input); `act_module` is the activation module (None: functional or linear)."""

    def __init__(self, module, name, kind):
        self.module = module
        self.name = name
        self.kind = kind  # 'weighted' | 'activation'
        self.norms = []
        self.z_module = module if kind == "weighted" else None
        self.act_module = None if kind == "weighted" else module
        self.activation = "linear"
        self.param = None
        self.functional = False
        self.index = 0
        self.is_output = False
        self.shape = ()  # output shape without the batch axis
        self.units = 0
        self.unit_axis = 1
        self.fan_in = 0
        self._u = self._a = None

    @property
    def spec(self):
        return A.spec_of(self.activation)

    @property
    def weight(self):
        return self.module.weight if self.kind == "weighted" else None

    @property
    def bias(self):
        return getattr(self.module, "bias", None) if self.kind == "weighted" else None

    @property
    def unit_kind(self):
        return "channel" if len(self.shape) > 1 else "unit"

    def facts(self):
        f = {"layer": self.index, "activation": self.activation, "fanIn": self.fan_in, "fanOut": self.units,
             "name": self.name, "className": type(self.module).__name__, "unitKind": self.unit_kind,
             "outputShape": list(self.shape)}
        if self.param is not None:
            f["activationParam"] = self.param
        return f


class Plan:
    def __init__(self, layers, unprobed):
        self.layers = layers
        self.unprobed = unprobed


def _shape_info(layer, z):
    """units, their axis in z, the shape without the batch axis, inputs per unit."""
    m = layer.module
    shape = tuple(z.shape[1:])
    if isinstance(m, nn.Linear):
        units, axis, fan_in = m.out_features, z.dim() - 1, m.in_features
    elif isinstance(m, WEIGHTED):  # convolutions: channels on axis 1
        units, axis = m.out_channels, 1
        k = math.prod(m.kernel_size)
        fan_in = (m.in_channels // m.groups) * k
    else:  # an activation layer of its own: units on the Linear axis for 2-D, channels otherwise
        axis = 1
        units = z.shape[axis] if z.dim() > 1 else 1
        fan_in = units
    return units, axis, shape, fan_in


def discover(named, events, activations):
    """The plan from one forward pass's events [(module, role, input, output)] in call order.

    `named` maps module -> qualified name; `activations` maps names to functional activations.
    """
    layers, chain = [], {}  # chain: id(tensor) -> the layer whose current z it is
    by_module = {}
    standalone_seen = set()
    for module, role, x, y in events:
        if role == "weighted":
            if module in by_module:
                continue  # probed at its first call
            layer = Layer(module, named[module], "weighted")
            layer.z, layer._u = y, y
            by_module[module] = layer
            layers.append(layer)
            chain[id(y)] = layer
        elif role == "norm":
            layer = chain.get(id(x))
            if layer is not None and layer.z is x and layer.act_module is None:
                layer.norms.append(module)
                layer.z_module = module
                layer.z = y
                chain[id(y)] = layer
        elif role == "activation":
            layer = chain.get(id(x))
            if layer is not None and layer.z is x and layer.kind == "weighted" and layer.act_module is None:
                layer.act_module = module
                layer.activation, layer.param = A.module_activation(module)
                layer._a = y
                chain.pop(id(x), None)
            elif module not in standalone_seen:
                standalone_seen.add(module)
                layer = Layer(module, named[module], "activation")
                layer.activation, layer.param = A.module_activation(module)
                layer.z, layer._u, layer._a = x, x, y
                layers.append(layer)
    seen_names = {named[m] for m, _, _, _ in events}
    for name, act in activations.items():
        layer = next((l for l in layers if l.name == name and l.kind == "weighted"), None)
        if layer is None:
            why = "did not run in the forward pass" if name not in seen_names else "is not a Linear or convolution"
            raise ValueError(f"activations= names {name!r}, which {why}: name the Linear or convolution modules whose output a functional activation takes")
        if layer.act_module is not None:
            raise ValueError(f"activations= names {name!r} as {act}, but its output goes through the module "
                             f"{named[layer.act_module]!r} ({type(layer.act_module).__name__}): leave {name!r} out of activations=")
        layer.activation, layer.functional = act, True
    unprobed = []
    if len(layers) > MAX_LAYERS:
        for l in layers[MAX_LAYERS:]:
            unprobed.append({"name": l.name, "className": type(l.module).__name__,
                             "reason": f"only the first {MAX_LAYERS} layers are probed (the trace's layer column is 8-bit)"})
        layers = layers[:MAX_LAYERS]
    for i, layer in enumerate(layers):
        layer.index = i + 1
        # the trace's output layer: the last probed one (L)
        layer.is_output = i == len(layers) - 1
        layer.units, layer.unit_axis, layer.shape, layer.fan_in = _shape_info(layer, layer.z)
        # this pass's tensors, for its step's probes: the caller takes them and deletes them
        layer._z = layer.z
        del layer.z
    return Plan(layers, unprobed)


def unprobed_modules(model, named, plan):
    """Leaf modules that are not part of a probed layer, each with the reason."""
    used = set()
    for l in plan.layers:
        used.add(l.module)
        used.update(l.norms)
        if l.act_module is not None:
            used.add(l.act_module)
    out = list(plan.unprobed)
    for module in model.modules():
        if module is model and any(True for _ in model.children()):
            continue
        if any(True for _ in module.children()) or module in used:
            continue
        role = role_of(module)
        if role == "weighted":
            reason = "did not run in the forward pass"
        elif role == "norm":
            reason = "batch normalization not between a probed layer and its activation"
        elif role == "activation":
            reason = "did not run in the forward pass"
        else:
            reason = why_not(module)
        out.append({"name": named.get(module, ""), "className": type(module).__name__, "reason": reason})
    return out


def flat_units(t, layer):
    """A captured tensor as [entries, units]: every sample and position is a row (unit-major later)."""
    if layer.unit_axis == t.dim() - 1:
        return t.reshape(-1, t.shape[-1])
    return t.movedim(layer.unit_axis, -1).reshape(-1, t.shape[layer.unit_axis])


def unit_max(t, layer):
    """[samples, units]: each unit's largest value over a sample's positions (z itself when it has none)."""
    if t.dim() == 2:
        return t
    if layer.unit_axis == t.dim() - 1:
        return t.reshape(t.shape[0], -1, t.shape[-1]).amax(1)
    return t.reshape(t.shape[0], t.shape[1], -1).amax(2)


__all__ = ["discover", "role_of", "unprobed_modules", "flat_units", "unit_max", "Plan", "Layer"]
