/**
 * Renders config issues for people and machines. The code is shared with the fleet config
 * and lives in common/yaml-config.ts; this module keeps the agent's import path.
 */
export {
  formatIssue,
  formatLoadResult,
  type IssueReport,
  issueReport,
  type Severity,
} from "../../../common/yaml-config.ts";
