/**
 * The decision rule shared with the trainer (training/train.py `decide`): a label that has
 * a threshold wins when its probability reaches it (the most probable such label);
 * otherwise the most probable label among those without a threshold. Ties go to the
 * earlier label, as numpy's argmax does.
 */
export function decideLabel(
  probabilities: ArrayLike<number>,
  labels: readonly string[],
  thresholds: Readonly<Record<string, number>>,
): number {
  let best = -1;
  for (let i = 0; i < labels.length; i++) {
    const t = thresholds[labels[i]!];
    if (t !== undefined && probabilities[i]! >= t && (best < 0 || probabilities[i]! > probabilities[best]!))
      best = i;
  }
  if (best >= 0) return best;
  for (let i = 0; i < labels.length; i++) {
    if (thresholds[labels[i]!] !== undefined) continue;
    if (best < 0 || probabilities[i]! > probabilities[best]!) best = i;
  }
  return best;
}
