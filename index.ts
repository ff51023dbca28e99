import { loadConfig } from "./config";
import { defineStack } from "./stacks";

// Config is read and validated once, here; everything below receives typed values.
export = defineStack(loadConfig());
