"""Helpers shared by the speed benchmarks: the CPU's flags, alternating rounds, medians and spread.

Every benchmark states, for each figure, the median over its rounds and the spread of those rounds
((max - min) / median); a figure whose rounds spread more than SPREAD_LIMIT does not claim a
target (`target_status`).
"""
import os
import statistics

# Rounds that differ by more than this (relative to their median) are too noisy to claim a target.
SPREAD_LIMIT = 0.10

# The instruction sets that decide which kernels TensorFlow runs (oneDNN, bfloat16, AMX).
_CPU_FLAGS_OF_INTEREST = ('avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx512_bf16',
                          'amx_bf16', 'amx_tile', 'amx_int8')


def cpu_model_and_flags():
  """(CPU model name, set of /proc/cpuinfo flags); ('unknown CPU', set()) off Linux."""
  model, flags = 'unknown CPU', set()
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          model = line.split(':', 1)[1].strip()
        elif line.startswith('flags'):
          flags = set(line.split(':', 1)[1].split())
  except OSError:
    pass
  return model, flags


def cpu_flags_line():
  """One line: the CPU model and which of the kernel-relevant instruction sets it has."""
  model, flags = cpu_model_and_flags()
  present = [f for f in _CPU_FLAGS_OF_INTEREST if f in flags]
  absent = [f for f in _CPU_FLAGS_OF_INTEREST if f not in flags]
  return 'CPU: %s, %d cores; flags: %s%s' % (
      model, os.cpu_count() or 0, ' '.join(present) or 'none of interest',
      ('; lacks: ' + ' '.join(absent)) if absent else '')


def load_line():
  return 'load average %s' % ', '.join('%.2f' % x for x in os.getloadavg())


def alternating_rounds(rounds, configs, run_one):
  """Runs `run_one(config, round_index)` for each config, round after round (config order the same
  in every round), so that a slow patch of a shared machine hits every config alike. Returns
  {config: [result of each round]}."""
  results = {config: [] for config in configs}
  for round_index in range(rounds):
    for config in configs:
      results[config].append(run_one(config, round_index))
  return results


def finite(values):
  return [v for v in values if v is not None and v == v]


def median(values):
  values = finite(values)
  return statistics.median(values) if values else float('nan')


def spread(values):
  """(max - min) / median of the values (0 for a single value, nan for none)."""
  values = finite(values)
  if not values:
    return float('nan')
  middle = statistics.median(values)
  return (max(values) - min(values)) / middle if middle else float('nan')


def round_ratios(numerators, denominators):
  """Per-round ratios of two alternating series (round i over round i)."""
  return [a / b for a, b in zip(numerators, denominators)
          if a is not None and b and a == a and b == b]


def spread_text(values):
  s = spread(values)
  return 'n/a' if s != s else '%.0f%%' % (100 * s)


def target_status(ratio, target, spreads):
  """'met' / 'not met' against `target`, or why no claim is made (a spread over SPREAD_LIMIT)."""
  noisy = [s for s in spreads if s == s and s > SPREAD_LIMIT]
  if noisy:
    return 'rounds spread %.0f%% > %.0f%%: too noisy to claim the %.2fx target' % (
        100 * max(noisy), 100 * SPREAD_LIMIT, target)
  if ratio != ratio:
    return 'not measured'
  return '%s (target >= %.2fx)' % ('met' if ratio >= target else 'not met', target)
