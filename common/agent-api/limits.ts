/** Unix socket paths longer than this do not fit sockaddr_un.sun_path on Linux. */
export const SOCKET_PATH_MAX = 107;
