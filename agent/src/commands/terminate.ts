import { tunnelAction } from "./tunnel-action.ts";

export const terminate = tunnelAction("terminate");
