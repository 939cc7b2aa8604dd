
return {
  name = nil,
  allocate = function(site)
    local os = require("os")
    return {}
  end,
}
