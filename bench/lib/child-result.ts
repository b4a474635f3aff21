/**
 * The end of a bench child process (bench.ts runJsonChild reads its last stdout line): the result as one JSON
 * line and exit 0, or the error on stderr and exit 1.
 */
export function reportToParent(work: Promise<unknown>): void {
  work
    .then((r) => {
      process.stdout.write(JSON.stringify(r) + "\n");
      process.exit(0);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
