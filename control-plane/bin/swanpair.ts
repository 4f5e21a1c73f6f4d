#!/usr/bin/env -S node --max-semi-space-size=1
import { main } from "../src/cli.ts";

process.exitCode = await main(process.argv);
