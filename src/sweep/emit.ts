/**
 * Scheduler files for sweeps too big for one machine: each array task (Slurm) or index (Kubernetes
 * Indexed Job) runs one shard of the same grid into one shared folder. Because a sweep resumes, a
 * task that is retried skips the runs it already finished.
 */
export const EmitKind = { slurm: 'slurm', k8s: 'k8s' } as const;
export type EmitKind = (typeof EmitKind)[keyof typeof EmitKind];

export interface EmitOptions {
  /** the sweep's own arguments (without --emit, --shards, --shard, --workers, --image, --pvc) */
  readonly args: readonly string[];
  readonly shards: number;
  /** absolute; must exist before the job starts, since Slurm opens each task's log there first */
  readonly out: string;
  /** folder the job runs in, so relative paths among `args` mean what they meant (Slurm) */
  readonly workdir: string;
  /** the CLI's entry file by absolute path (Slurm): run with node, never `npx probe`, which finds
   * this project's bin only from inside its folder and elsewhere fetches an unrelated npm package */
  readonly bin: string;
  /** the Node.js that emitted the job, tried first on the nodes (Slurm) */
  readonly node: string;
  readonly cpus: number;
  readonly image: string;
  readonly pvc: string;
  readonly name: string;
}

/** POSIX shell quoting: safe for patterns like *-sigmoid-relu. */
export function shq(s: string): string {
  return /^[\w./:=,@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Where a task's log goes: '%' is Slurm's pattern character, and quotes keep spaces in the path. */
function sbatchLog(dir: string): string {
  const p = `${dir.replace(/%/g, '%%')}/slurm-%A_%a.log`;
  return /\s/.test(p) ? `"${p}"` : p;
}

/**
 * Slurm job array. Each task runs `node <bin> sweep … --shard i/N` in `workdir`: the nodes need
 * the project folder (with its node_modules) and `out` at the same paths as where it was emitted,
 * and Node.js 20+ (PROBE_NODE, else the emitting node's path, else `node` on PATH). It reads no
 * other environment, so `sbatch --export=NONE` works.
 */
export function emitSlurm(o: EmitOptions): string {
  const args = ['sweep', ...o.args, '--out', o.out].map(shq).join(' ');
  return `#!/bin/bash
# probe sweep as a Slurm job array: task i of ${o.shards} runs shard i/${o.shards} of the grid.
# Submit with: sbatch sweep.sbatch     Submit it again to finish what did not (finished runs are skipped).
# Every node needs ${o.workdir} (with node_modules) and ${o.out} at these paths, and Node.js 20+.
#SBATCH --job-name=${o.name}
#SBATCH --array=1-${o.shards}
#SBATCH --cpus-per-task=${o.cpus}
#SBATCH --mem=${2 * o.cpus}G
#SBATCH --output=${sbatchLog(o.out)}
set -euo pipefail
node=\${PROBE_NODE:-${shq(o.node)}}
[ -x "$node" ] || node=$(command -v node) || { echo "probe sweep: no Node.js on $(hostname): set PROBE_NODE to its path" >&2; exit 2; }
cd ${shq(o.workdir)}
exec "$node" ${shq(o.bin)} ${args} \\
  --shard "\${SLURM_ARRAY_TASK_ID}/${o.shards}" --workers "\${SLURM_CPUS_PER_TASK:-1}" --quiet
`;
}

export function emitK8s(o: EmitOptions): string {
  const args = ['sweep', ...o.args, '--out', '/runs', '--quiet'];
  const cmd = `node /app/bin/probe.js ${args.map(shq).join(' ')} --shard "$((JOB_COMPLETION_INDEX + 1))/${o.shards}" --workers ${o.cpus}`;
  return `# probe sweep as a Kubernetes Indexed Job: index i runs shard i+1/${o.shards} of the grid into the
# volume ${o.pvc} (ReadWriteMany). Apply with: kubectl apply -f sweep.yaml
# The image must hold this project with its node_modules (npm ci) in /app.
apiVersion: batch/v1
kind: Job
metadata:
  name: ${o.name}
spec:
  completionMode: Indexed
  completions: ${o.shards}
  parallelism: ${o.shards}
  backoffLimitPerIndex: 2
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: probe
          image: ${o.image}
          workingDir: /app
          command: ["sh", "-c", ${JSON.stringify(cmd)}]
          resources:
            requests:
              cpu: "${o.cpus}"
              memory: ${2 * o.cpus}Gi
            limits:
              cpu: "${o.cpus}"
          volumeMounts:
            - name: runs
              mountPath: /runs
      volumes:
        - name: runs
          persistentVolumeClaim:
            claimName: ${o.pvc}
`;
}
