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
  readonly out: string;
  /** folder holding the project on the cluster's nodes (Slurm) */
  readonly workdir: string;
  readonly cpus: number;
  readonly image: string;
  readonly pvc: string;
  readonly name: string;
}

/** POSIX shell quoting: safe for patterns like *-sigmoid-relu. */
export function shq(s: string): string {
  return /^[\w./:=,@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function emitSlurm(o: EmitOptions): string {
  const cmd = ['npx', 'probe', 'sweep', ...o.args.map(shq), '--out', shq(o.out)].join(' ');
  return `#!/bin/bash
# probe sweep as a Slurm job array: task i of ${o.shards} runs shard i/${o.shards} of the grid.
# Submit with: sbatch sweep.sbatch     Rerun it to redo only what did not finish.
#SBATCH --job-name=${o.name}
#SBATCH --array=1-${o.shards}
#SBATCH --cpus-per-task=${o.cpus}
#SBATCH --mem=${2 * o.cpus}G
#SBATCH --output=${o.out}/slurm-%A_%a.log
set -euo pipefail
cd ${shq(o.workdir)}
${cmd} \\
  --shard "\${SLURM_ARRAY_TASK_ID}/${o.shards}" --workers "\${SLURM_CPUS_PER_TASK:-1}" --quiet
`;
}

export function emitK8s(o: EmitOptions): string {
  const args = ['probe', 'sweep', ...o.args, '--out', '/runs', '--quiet'];
  const cmd = `npx ${args.slice(0, 2).join(' ')} ${args.slice(2).map(shq).join(' ')} --shard "$((JOB_COMPLETION_INDEX + 1))/${o.shards}" --workers ${o.cpus}`;
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
