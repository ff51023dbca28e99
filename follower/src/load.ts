import { readFile } from "node:fs/promises";
import { pemCertificate } from "../../validation/formats";
import { InputError, type Problem } from "../../validation/inputError";
import { parseFollowerSettings, type FollowerSettings } from "./settings";

/**
 * Reading the files the settings name, at start: a file that is missing, empty or malformed is a
 * settings error (exit 2) like a bad value, naming the key that points at it. The token is never
 * shown, not even in part.
 */

export async function loadSettings(path: string): Promise<FollowerSettings> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new InputError([
      {
        field: "FollowerSettings",
        received: `no readable file at ${JSON.stringify(path)} (${(error as NodeJS.ErrnoException).code})`,
        expected: "the follower's JSON settings file (--settings)",
      },
    ]);
  }
  return parseFollowerSettings(text);
}

export interface Credentials {
  token: string;
  ca: string;
}

/** Printable ASCII without spaces: it goes into an Authorization header as it is. */
const TOKEN = /^[\x21-\x7e]{1,1024}$/;

export async function loadCredentials(settings: FollowerSettings): Promise<Credentials> {
  const problems: Problem[] = [];
  const token = await readNamed("tokenFile", settings.tokenFile, problems, (text) => {
    const token = text.trim();
    if (token === "") return { problem: "an empty file" };
    if (!TOKEN.test(token))
      return { problem: `a file holding ${token.length} characters, some not printable or spaces` };
    return { value: token };
  });
  const ca = await readNamed("caFile", settings.caFile, problems, (text) =>
    pemCertificate.check(text).ok ? { value: text } : { problem: "a file that is not a PEM certificate" },
  );
  if (token === undefined || ca === undefined) throw new InputError(problems);
  return { token, ca };
}

const EXPECTED = {
  tokenFile: "a readable file holding the Linode API token (scope domains:read_write)",
  caFile: "a readable file holding the PEM certificate of the CA that signs the members' certificates",
};

async function readNamed(
  key: keyof typeof EXPECTED,
  path: string,
  problems: Problem[],
  read: (text: string) => { value: string } | { problem: string },
): Promise<string | undefined> {
  const field = `FollowerSettings.${key}`;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problems.push({
      field,
      received: `${JSON.stringify(path)} (unreadable: ${code})`,
      expected: EXPECTED[key],
    });
    return undefined;
  }
  const result = read(text);
  if ("value" in result) return result.value;
  problems.push({ field, received: `${JSON.stringify(path)}, ${result.problem}`, expected: EXPECTED[key] });
  return undefined;
}
