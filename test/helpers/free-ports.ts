import { createServer, type AddressInfo } from "node:net";

/**
 * Free ports, all held at once so that no two are the same, then released for the processes.
 * Nothing here imports vitest: bench/revocation.ts uses it too.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      const server = createServer();
      return new Promise<typeof server>((resolvePromise, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolvePromise(server));
      });
    }),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolvePromise) => server.close(resolvePromise))));
  return ports;
}
