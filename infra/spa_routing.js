// CloudFront Function (viewer request) on the site's behaviour only: a path without a file
// extension is one of the app's routes, so it gets the app shell; files and /api/* are untouched.
function handler(event) {
  var request = event.request;
  var last = request.uri.split("/").pop();
  if (last.indexOf(".") === -1) {
    request.uri = "/index.html";
  }
  return request;
}
