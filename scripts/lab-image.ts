// Builds the failover lab's image and whatever it needs that is missing (the base image, the
// bundles): control-plane/src/lab/images.ts. Progress on stderr; the image's name on stdout.
//   node scripts/lab-image.ts
// Not an `import.meta.main` block in images.ts: in the swanpair bundle every module shares
// the entry's import.meta, so such a block would run there.
import { ensureLabImage } from "../control-plane/src/lab/images.ts";

try {
  const image = await ensureLabImage({ progress: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${image}\n`);
} catch (err) {
  process.stderr.write(`lab-image: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
