import { tunnelAction } from "./tunnel-action.ts";

export const initiate = tunnelAction("initiate");
