// The designer's server API. Every call carries this run's token in a header; the token
// comes from the URL `intercom-connector ui` printed and is then kept for this tab only.

const TOKEN_KEY = "intercom-designer-token";
let token = null;

/** The token: from the URL (then removed from the address bar), else from this tab. */
export function takeToken() {
  const url = new URL(window.location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  token = sessionStorage.getItem(TOKEN_KEY);
  return token;
}

/** An error the server (or the connector behind it) answered, in words for a person. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error && error.message ? error.message : `The designer answered ${status}`);
    this.status = status;
    this.problems = (error && error.problems) || [];
    this.exitCode = error && error.exit_code;
  }
}

async function call(method, path, body) {
  const headers = { "X-Designer-Token": token || "" };
  const options = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new ApiError(0, {
      message: "The designer does not answer: is `intercom-connector ui` still running?",
    });
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch (error) {
    answer = null;
  }
  if (!response.ok) throw new ApiError(response.status, answer && answer.error);
  return answer;
}

export const api = {
  get: (path) => call("GET", path),
  post: (path, body) => call("POST", path, body || {}),
};
