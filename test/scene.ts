/** Reading a drawn Vega view's scenegraph in tests: where its marks ended up. */
export type SceneNode = { items?: SceneNode[]; marktype?: string; x?: number; y?: number; bounds?: { x1: number; y1: number; x2: number; y2: number }; datum?: Record<string, unknown> };

/**
 * In a drawn chart, the boxes of the thresholds' labels and the points of a metric's lines, in the
 * view's coordinates (each item's position plus its groups'); and the points inside a label's box.
 */
export function labelsOverData(root: SceneNode, metric: string) {
  const boxes: { text: string; x1: number; y1: number; x2: number; y2: number }[] = [];
  const points: { x: number; y: number }[] = [];
  const walk = (n: SceneNode, ox: number, oy: number, type?: string) => {
    const t = n.marktype ?? type;
    const d = n.datum;
    if (t === 'text' && d && 'threshold' in d && d.metric === metric && n.bounds) {
      boxes.push({ text: String(d.line ?? d.label), x1: ox + n.bounds.x1, y1: oy + n.bounds.y1, x2: ox + n.bounds.x2, y2: oy + n.bounds.y2 });
    }
    if (t === 'line' && d && d.metric === metric && typeof d.value === 'number') points.push({ x: ox + (n.x ?? 0), y: oy + (n.y ?? 0) });
    // a group's items sit at its x, y
    const [gx, gy] = n.marktype === undefined && t === 'group' ? [ox + (n.x ?? 0), oy + (n.y ?? 0)] : [ox, oy];
    for (const c of n.items ?? []) walk(c, gx, gy, c.marktype ? undefined : t);
  };
  walk(root, 0, 0);
  const inside = points.filter((p) => boxes.some((b) => p.x >= b.x1 && p.x <= b.x2 && p.y >= b.y1 && p.y <= b.y2));
  return { boxes, points, inside };
}

